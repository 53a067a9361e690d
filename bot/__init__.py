"""The Discord layer of citebot (built on the ``index`` library; no FAISS or model imports)."""
