"""Validate a JSON document against a JSON Schema with the reference Python
implementation (format checks on). Prints each error and exits 1 if any."""
import json
import sys

import jsonschema

schema_path, doc_path = sys.argv[1], sys.argv[2]
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
with open(doc_path, encoding="utf-8") as f:
    doc = json.load(f)
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errors[:50]:
    print(f"{doc_path}: /{'/'.join(map(str, e.absolute_path))}: {e.message}")
sys.exit(1 if errors else 0)
