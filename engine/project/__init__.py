"""Stage 1, the project: a folder of YAML (kam.yaml, rules/, playbooks/) and templates, loaded,
checked against the JSON Schemas and every name, and modelled as frozen records.

load.py finds and loads a project (find_project, load_project); loader.py reads YAML with
positions; schema.py and schemas/ validate it; checks.py checks names, types and strata across
files; model.py is what every later stage reads. expr.py parses the conditions and formulas;
texts.py, workdays.py, portfolio_config.py and date_range.py model their parts of kam.yaml;
cells.py says how an input's cells meet the declarations (engine/io/ applies it).
"""
