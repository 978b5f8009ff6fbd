"""Rehearsals of the real presets: their stages and code paths at a toy budget, on real-format inputs.

``dunya_server``: a local Dunya that answers as the real API and docserver do (serializer shapes, paging, query
strings, the per-recording 401). Kept in the package, not in tests, because ``--rehearsal`` runs use it too.
"""
