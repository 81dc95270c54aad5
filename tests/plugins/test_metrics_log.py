import json

import pytest

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import MetricsLog


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_records_train_epoch_and_eval_values(tmp_path):
    path = tmp_path / "sub" / "metrics.jsonl"
    trainer = ut.Trainer(
        tiny_task(), max_epochs=2, device="cpu", plugins=[MetricsLog(path, every_n_steps=2)]
    )
    trainer.fit(tiny_batches(), eval_data={"val": tiny_batches()})
    records = read(path)
    assert {r["split"] for r in records} == {"train", "train_epoch", "val"}
    train = [r for r in records if r["split"] == "train"]
    assert [r["step"] for r in train] == [2, 4, 6, 8]
    last_val = {r["name"]: r["value"] for r in records if r["split"] == "val" and r["epoch"] == 1}
    assert last_val == pytest.approx(trainer.state.eval_metrics["val"])
    epoch_means = [r for r in records if r["split"] == "train_epoch" and r["name"] == "loss"]
    assert len(epoch_means) == 2 and epoch_means[1]["value"] < epoch_means[0]["value"]
    assert all(set(r) == {"time", "split", "name", "value", "epoch", "step"} for r in records)


def test_appends_and_never_truncates(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"old": true}\n')
    ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[MetricsLog(path)]).fit(
        tiny_batches()
    )
    assert read(path)[0] == {"old": True}
    assert len(read(path)) > 1


def test_standalone_evaluate_is_logged_and_the_file_closed(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log])
    trainer.evaluate(tiny_batches(), split="test")
    assert {r["split"] for r in read(tmp_path / "m.jsonl")} == {"test"}
    assert log._file is None


def test_bad_interval_is_refused(tmp_path):
    with pytest.raises(ut.ConfigError, match="every_n_steps=0"):
        MetricsLog(tmp_path / "m.jsonl", every_n_steps=0)
