"""The web workbench (optional `[web]` extra: fastapi, uvicorn, python-multipart).

- `annotate_app`: label exchanges, agreement, adjudication, model versus human
  (`refusalkit annotate`);
- `viewer_app`: browse saved audit/benchmark run folders (`refusalkit serve`);
- `security`: binding, token, CSRF, headers and safe paths shared by both.

Nothing here is imported by `import refusalkit`; the CLI imports it inside its commands.
"""
