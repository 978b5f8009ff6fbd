"""Hub metric Space entry point (standard `evaluate` widget)."""

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("multilabel_tagging.py")
launch_gradio_widget(module)
