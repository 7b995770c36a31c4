"""common.cli.resolve_preset: how --quick combines with a named preset and with typed flags."""

from common.cli import resolve_preset

PRESETS = {"default": {"method": "a"}, "paper": {"method": "b"},
           "quick": {"method": "a", "hidden": 8, "updates": 3}}


def test_quick_alone_selects_the_quick_preset():
    assert resolve_preset(None, True, PRESETS, {"hidden": None}, sizes=["hidden", "updates"]) == ("quick", {"hidden": None})
    assert resolve_preset(None, False, PRESETS, {}, sizes=[])[0] == "default"


def test_quick_with_a_preset_shrinks_sizes_and_keeps_typed_flags():
    name, ov = resolve_preset("paper", True, PRESETS, {"hidden": None, "updates": 50, "method": None},
                              sizes=["hidden", "updates"])
    assert name == "paper"
    assert ov == {"hidden": 8, "updates": 50, "method": None}   # the paper's method is not replaced
