"""The ranking demo step on saved tiny models: writes its files and names a top candidate per score."""

from __future__ import annotations

import json

from hfnet.demo import DemoContext
from hfnet.demo.ranking import demo_step


def test_demo_step_ranks_the_zoo(tmp_path, tiny_vit_dir, tiny_timm_dir, tiny_resnet_dir, digits_small):
    zoo = {"vit": tiny_vit_dir, "timm": tiny_timm_dir, "resnet": tiny_resnet_dir}
    ctx = DemoContext(output_dir=tmp_path, zoo=zoo, datasets={"mnist": digits_small}, seed=0)
    row = demo_step(ctx)
    assert row["model"] == "3 ranked (0 failed)"
    assert row["top_logme"] in zoo and row["top_leep"] in zoo
    data = json.loads((tmp_path / "ranking" / "ranking.json").read_text())
    assert data["num_samples"] == 200 and len(data["candidates"]) == 3
    assert (tmp_path / "ranking" / "ranking.png").stat().st_size > 10_000
