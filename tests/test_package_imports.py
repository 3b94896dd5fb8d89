import importlib


def test_package_imports() -> None:
    module = importlib.import_module("flyteplugins.snowflake")
    assert isinstance(module.__all__, list)
