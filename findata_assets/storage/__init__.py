"""The stores, without Dagster: the SQL warehouse (warehouse.py; schema, bulk load, errors and
MySQL literals beside it) and the object-store archive (object_store.py)."""
