"""The portfolio report: one self-contained HTML file (out/<run>/portfolio.html) with inline
CSS and SVG charts drawn in Python. The page itself is a sandboxed, autoescaped Jinja
template (templates/portfolio.html.j2) with its words in templates/labels.yaml.

- data.py: the numbers, from a list of small per-account records;
- svg.py, charts.py: the charts (every piece of account data that reaches an SVG goes
  through `escape`); outcomes.py: the section on what became of the plans (with a store);
- view.py: what the template shows, words and formatted numbers;
- page.py: renders the template into the output folder.

A run does not build the list of records: render/aggregate.py adds up what the view needs,
account by account.
"""
