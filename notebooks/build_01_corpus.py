"""Write and execute ``notebooks/01_corpus.ipynb`` (a look at the corpus), saving its outputs.

    python notebooks/build_01_corpus.py     # needs the `notebook` extra: pip install -e ".[notebook]"
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

CELLS = [
    ("md", "# The Heartfelt corpus at a glance\n\nCounts and a few plots of `training/data/corpus.jsonl` "
           "and the sentence pools it is built from. Regenerate with `python notebooks/build_01_corpus.py`."),
    ("code", "import sys, collections\nsys.path.insert(0, '..')\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
             "from service.labels import LABELS\nfrom training.data.pools import load_pools, dedupe\n"
             "from training.dataset import load_corpus\n"
             "examples = load_corpus()\nsentences, _ = dedupe(load_pools())\n"
             "print(len(examples), 'examples,', len(sentences), 'distinct written sentences')"),
    ("md", "## Units per label and split"),
    ("code", "rows = []\nfor ex in examples:\n    for u in ex['units']:\n"
             "        for label in u['labels'] or ['(none)']:\n            rows.append((label, ex['split']))\n"
             "units = pd.DataFrame(rows, columns=['label', 'split'])\n"
             "pd.crosstab(units.label, units.split).reindex([*LABELS, '(none)'])"),
    ("md", "## Labels by situation (written sentences)"),
    ("code", "df = pd.DataFrame([{'situation': s.situation, 'label': l} for s in sentences for l in (s.labels or ('(none)',))])\n"
             "table = pd.crosstab(df.situation, df.label)[[*LABELS, '(none)']]\n"
             "ax = table.drop(index='none').plot.barh(stacked=True, figsize=(9, 5), colormap='tab20')\n"
             "ax.set_xlabel('sentences'); ax.legend(fontsize=7, ncol=2); plt.tight_layout(); plt.show()"),
    ("md", "## Sentence lengths by register"),
    ("code", "lengths = pd.DataFrame([{'register': s.register, 'words': len(s.text.split())} for s in sentences])\n"
             "print(lengths.groupby('register').words.describe().round(1))\n"
             "lengths.hist(column='words', by='register', bins=30, figsize=(9, 5), sharex=True); plt.tight_layout(); plt.show()"),
    ("md", "## Label co-occurrence inside one unit"),
    ("code", "import numpy as np\nm = np.zeros((len(LABELS), len(LABELS)), dtype=int)\n"
             "for ex in examples:\n    for u in ex['units']:\n        idx = [LABELS.index(l) for l in u['labels']]\n"
             "        for a in idx:\n            for b in idx:\n                m[a, b] += 1\n"
             "fig, ax = plt.subplots(figsize=(6, 5))\nim = ax.imshow(np.log1p(m), cmap='Blues')\n"
             "ax.set_xticks(range(len(LABELS)), LABELS, rotation=60, fontsize=8); ax.set_yticks(range(len(LABELS)), LABELS, fontsize=8)\n"
             "for i in range(len(LABELS)):\n    for j in range(len(LABELS)):\n        ax.text(j, i, m[i, j], ha='center', va='center', fontsize=6)\n"
             "ax.set_title('units carrying both labels (diagonal: per label)'); plt.tight_layout(); plt.show()"),
    ("md", "## Everyday genres and hard negatives"),
    ("code", "everyday = [s for s in sentences if s.situation == 'none']\n"
             "g = pd.Series(collections.Counter(s.genre for s in everyday)).sort_values()\n"
             "print(len(everyday), 'everyday sentences in', len(g), 'genres;',\n"
             "      sum(s.hard_negative for s in sentences), 'hard negatives')\n"
             "g.plot.barh(figsize=(7, 7)); plt.xlabel('sentences'); plt.tight_layout(); plt.show()"),
]


def main() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    nbformat.write(nb, HERE / "01_corpus.ipynb")


if __name__ == "__main__":
    main()
