"""Each engine family's own settings, one pydantic model a family, composed into `config.Settings`.

They sit beside config.py, under the engines (which read them through Settings): pydantic alone, no
engine and no inference library (import-linter contracts in pyproject.toml).
"""
