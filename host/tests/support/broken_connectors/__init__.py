"""Deliberately broken connectors, one defect each, for the conformance suite's own tests
(`host/tests/test_conformance_catches.py`): each must be caught by the check meant for it.
They are loaded through `ENTTOK_PLUGIN_MODULES` (`broken_connectors.<name>`), never installed,
and all sync the demo API (`enttok_demo.fake_api`) starting from `reference.py`."""
