"""The one card renderer: every model and dataset card the package writes is a Jinja template in ``model_cards/``.

It sits in a low layer so that the dataset builders (``hf_culturemert.data``) and the model code above them render
their cards the same way; ``hf_culturemert.cards`` builds the Hub metadata and results tables on top of it.
"""

import os
from pathlib import Path

TEMPLATES_ENV = "CULTUREMERT_CARD_TEMPLATES"


def templates_dir() -> Path:
    """``$CULTUREMERT_CARD_TEMPLATES``, the repository's ``model_cards/``, or a packaged copy, whichever exists."""
    candidates = [os.environ.get(TEMPLATES_ENV), Path(__file__).resolve().parents[2] / "model_cards",
                  Path(__file__).resolve().parent / "resources" / "model_cards"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "dataset.md").is_file():
            return Path(candidate)
    raise FileNotFoundError(f"Card templates not found (looked in {', '.join(str(c) for c in candidates if c)}); "
                            f"set ${TEMPLATES_ENV} to the model_cards/ folder of hf-culturemert")


def render_template(template, /, **values) -> str:
    """``model_cards/<template>`` (or an absolute path) rendered with Jinja; a section's text, no YAML header."""
    import jinja2

    text = (templates_dir() / template).read_text(encoding="utf-8")
    return jinja2.Template(text, keep_trailing_newline=True).render(**values)


def render_card(template, metadata, /, **values) -> str:
    """Card text from ``model_cards/<template>``: every card the package writes goes through here.

    Args:
        template: a file name in the templates folder (:func:`templates_dir`), e.g. ``pico_base.md``, or a path.
        metadata: the YAML header: a ``huggingface_hub`` ``CardData`` or a plain mapping (dumped in its own order).
        **values: the template's Jinja variables; ``card_data`` is the YAML header.

    Returns:
        The card's text (``README.md``), ending with one newline.

    Example:
        ```python
        text = render_card("pico_base.md", {"license": "cc-by-nc-4.0"}, steps=1000, ...)
        Path("README.md").write_text(text, encoding="utf-8")
        ```
    """
    import yaml

    if hasattr(metadata, "to_yaml"):
        header = metadata.to_yaml()
    else:
        header = yaml.safe_dump(dict(metadata), sort_keys=False, allow_unicode=True)
    return render_template(template, card_data=header.rstrip(), **values).rstrip() + "\n"
