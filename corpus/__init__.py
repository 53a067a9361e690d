"""The bundled corpus: the articles citebot ships with, one Markdown file each.

The files are data; this module only tells the code where they are.
"""

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent
