"""Server-rendered tablet and team web UI: Jinja2, plain forms, a little JavaScript."""
