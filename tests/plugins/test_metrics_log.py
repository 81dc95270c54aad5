import json

import pytest

import unitrain as ut
from tests.plugins._tiny import tiny_batches, tiny_task
from unitrain.plugins import Checkpoint, MetricsLog


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


def test_a_second_run_writes_its_own_file(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"old": true}\n')
    log = MetricsLog(path)
    with caplog.at_level("INFO", logger="unitrain"):
        ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log]).fit(tiny_batches())
    assert read(path) == [{"old": True}]  # the earlier run is untouched
    assert log.written == tmp_path / "metrics.2.jsonl"
    assert "holds an earlier run: writing metrics.2.jsonl" in caplog.text
    assert {r["split"] for r in read(log.written)} == {"train_epoch"}
    third = MetricsLog(path)
    ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[third]).fit(tiny_batches())
    assert third.written == tmp_path / "metrics.3.jsonl"


def test_a_resumed_fit_continues_its_own_file_from_the_checkpoint(tmp_path):
    path, checkpoints = tmp_path / "metrics.jsonl", tmp_path / "ckpt"
    path.write_text('{"split": "train", "name": "loss", "value": 1.0, "step": 1}\n')  # earlier

    def trainer(epochs):
        plugins = [MetricsLog(path, every_n_steps=1), Checkpoint(checkpoints, every_n_epochs=1)]
        return ut.Trainer(tiny_task(), max_epochs=epochs, device="cpu", plugins=plugins)

    trainer(1).fit(tiny_batches())  # steps 1-4, written to metrics.2.jsonl
    own = tmp_path / "metrics.2.jsonl"
    with own.open("a") as file:  # what an interrupted attempt wrote after its checkpoint
        file.write('{"split": "train", "name": "loss", "value": 9.0, "step": 5}\n{"torn')
    resumed = trainer(2)
    resumed.fit(tiny_batches(), resume=checkpoints)
    steps = [r["step"] for r in read(own) if r["split"] == "train"]
    assert steps == [1, 2, 3, 4, 5, 6, 7, 8]  # no step twice, the torn line gone
    assert 9.0 not in [r["value"] for r in read(own)]
    assert len(read(path)) == 1  # the earlier run's file is untouched


def test_standalone_evaluate_is_logged_and_the_file_closed(tmp_path):
    log = MetricsLog(tmp_path / "m.jsonl")
    trainer = ut.Trainer(tiny_task(), max_epochs=1, device="cpu", plugins=[log])
    trainer.evaluate(tiny_batches(), split="test")
    assert {r["split"] for r in read(tmp_path / "m.jsonl")} == {"test"}
    assert log._file is None


def test_bad_interval_is_refused(tmp_path):
    with pytest.raises(ut.ConfigError, match="every_n_steps=0"):
        MetricsLog(tmp_path / "m.jsonl", every_n_steps=0)
