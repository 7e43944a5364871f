"""A rule table as its authors write it, from the file to the checked model.

    load.py      load_file, compile_source, check_source: file or text to a compiled table,
                 every error with its line (what the CLI and the server call)
    source.py    reading YAML or JSON within size and alias limits; the line of a field
    validate.py  build_table: parsed data to a RuleTable, every error with its path
    checks/      the checks of each section of the format (tiers, products, rooms, coupons,
                 points, redemptions) and the helpers they share
    schema.py    the same format as a JSON Schema, for editors and CI
    diff.py      what changed between two tables, in an author's words

The compiler (engine/compiler.py) stays outside: it turns a checked RuleTable into the
numpy arrays the evaluators read, a contract kept with engine/layout.py and ext/, not
with the format an author writes.
"""
