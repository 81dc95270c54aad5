"""The mixed-styles example: four plugin styles in one fit, in the one documented order."""

from tests.example_scripts import load_example


def test_four_styles_run_in_one_order_and_the_model_learns() -> None:
    example = load_example("mixed_styles/train.py", "mixed_styles_example")
    events, accuracy, losses = example.run(epochs=1)
    # wrappers outermost; then ascending order (aitoolbox -10, the order-0 plugins in
    # registration order, the bus listener 5); the bus publishes from its own step-end hook
    assert example.first_step(events) == [
        "wrapper:step_end:enter",
        "aitoolbox:step_end",
        "native:step_end",
        "t3w:step_end",
        "bus:bundles",
        "wrapper:step_end:exit",
    ]
    assert example.last_epoch_end(events) == [
        "wrapper:epoch_end:enter",
        "aitoolbox:epoch_end",
        "native:epoch_end",
        "t3w:epoch_end",
        "bus:epoch_end",
        "wrapper:epoch_end:exit",
    ]
    assert events.count("bus:bundles") == len(losses) == 23  # 1437 digits / 64 per batch
    assert losses[-1] < losses[0] and accuracy > 0.75


def test_main_exits_non_zero_below_the_target(capsys) -> None:
    example = load_example("mixed_styles/train.py", "mixed_styles_example")
    assert example.main(["--epochs", "1", "--target", "0.99"]) == 1
    assert "events of the first training step:" in capsys.readouterr().out
