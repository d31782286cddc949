"""Sphinx configuration: numpydoc API pages, a sphinx-gallery of examples/, MyST for the .md pages."""

import os
import sys
import warnings

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning, message="Matplotlib is currently using agg")

import sksnn  # noqa: E402

project = "sksnn"
author = "sksnn developers"
copyright = "2026, sksnn developers"
release = version = sksnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = [
    "_build",
    "results/results.md",
    "results/tabular.md",
    "results/tabular_*.md",
    "results/defaults_search_*.md",
    "results/defaults_screen_*.md",
    "results/periodic_probe_*.md",
    "results/input_scale_probe_*.md",
    "results/pact_probe*.md",
    "results/coslog_probe_*.md",
    "results/cycles_probe_*.md",
]
myst_enable_extensions = ["dollarmath"]

templates_path = ["_templates"]  # class pages: own methods only (inherited ones link to sklearn labels)
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

# No intersphinx: CI machines reach PyPI only. References to scikit-learn stay plain text.

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sksnn {version}"
html_theme_options = {"show_toc_level": 2, "navigation_with_keys": False}
