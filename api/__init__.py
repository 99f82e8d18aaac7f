"""The REST API's framework, shared by every app's endpoints: one error shape and the JSON
parser (errors), field types (fields), filter helpers (filters), pagination, the OpenAPI
schema's error responses (schema) and the API-wide views (views).

It imports no app (tests/test_layering.py): apps build their endpoints on it, and the URL
map that puts every app's endpoints under /api/v1/ is wiring, in salesperf/urls.py.
"""
