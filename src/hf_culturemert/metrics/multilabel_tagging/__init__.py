"""The ``multilabel_tagging`` evaluate metric (the module file is standalone so it can be published as a Space)."""
