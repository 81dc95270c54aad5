"""aitoolbox.utils: function checks, dict helpers, folders and safe archive unpacking."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from unitrain.compat.aitoolbox.utils.dict_util import (
    combine_dict_elements,
    combine_prediction_metadata_batches,
    flatten_combine_dict,
    flatten_dict,
)
from unitrain.compat.aitoolbox.utils.file_system import (
    create_folder_hierarchy,
    unzip_file,
    zip_folder,
)
from unitrain.compat.aitoolbox.utils.util import (
    copy_function,
    flatten_list_of_lists,
    function_exists,
    is_empty_function,
)
from unitrain.errors import ConfigError, ConfigTypeError


class Thing:
    attribute = 3

    def method(self) -> int:
        return 1


def test_function_checks() -> None:
    assert function_exists(Thing(), "method") and not function_exists(Thing(), "attribute")
    assert not function_exists(Thing(), "missing")

    def empty() -> None:
        pass

    def documented() -> None:
        """Only a docstring."""

    def busy(x: int = 2) -> int:
        return x + 1

    assert (
        is_empty_function(empty)
        and is_empty_function(documented)
        and is_empty_function(lambda: None)
    )
    assert not is_empty_function(busy) and not is_empty_function(len)
    copied = copy_function(busy)
    assert copied is not busy and copied() == 3 and copied.__name__ == "busy"
    with pytest.raises(ConfigTypeError, match="plain Python function"):
        copy_function(len)
    assert (
        flatten_list_of_lists([[1], [2, 3], []]) == [1, 2, 3]
        and flatten_list_of_lists(None) is None
    )


def test_dict_helpers() -> None:
    batches = [
        {"ids": [1, 2], "t": torch.tensor([1.0]), "a": np.array([1])},
        {"ids": [3], "t": torch.tensor([2.0]), "a": np.array([2])},
    ]
    combined = combine_prediction_metadata_batches(batches)
    assert combined["ids"] == [1, 2, 3] and torch.equal(combined["t"], torch.tensor([1.0, 2.0]))
    assert combined["a"].tolist() == [1, 2]
    with pytest.raises(ConfigTypeError, match="'n' is a int"):
        combine_prediction_metadata_batches([{"n": 1}])
    assert flatten_dict({"a": {"b": {"c": 1}}, "d": 2}) == {"a_b_c": 1, "d": 2}
    assert combine_dict_elements([{"a": 1}, {"a": 2, "b": 3}]) == {"a": [1, 2], "b": [3]}
    assert flatten_combine_dict({"m": [{"x": 1}, {"x": 2}], "loss": [0.5], "none": []}) == {
        "m_x": [1, 2],
        "loss": [0.5],
    }


def test_folders_and_zip_round_trip(tmp_path: Path) -> None:
    deepest, made = create_folder_hierarchy(str(tmp_path), ["a", "b"])
    assert deepest == str(tmp_path / "a" / "b") and made[-1] == deepest and os.path.isdir(deepest)
    with pytest.raises(ConfigError, match="does not exist"):
        create_folder_hierarchy(str(tmp_path / "nope"), ["a"])
    (tmp_path / "a" / "b" / "f.txt").write_text("data")
    archive = zip_folder(str(tmp_path / "a"), str(tmp_path / "out.zip"))
    assert archive == str(tmp_path / "out.zip")
    unzip_file(archive, str(tmp_path / "unpacked"))
    assert (tmp_path / "unpacked" / "b" / "f.txt").read_text() == "data"


def test_archives_cannot_write_outside_the_target(tmp_path: Path) -> None:
    evil_zip = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil_zip, "w") as archive:
        archive.writestr("../escaped.txt", "x")
    with pytest.raises(ConfigError, match="outside the target"):
        unzip_file(str(evil_zip), str(tmp_path / "target"))
    evil_tar = tmp_path / "evil.tar.gz"
    with tarfile.open(evil_tar, "w:gz") as archive:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ConfigError, match="unsafe to unpack"):
        unzip_file(str(evil_tar), str(tmp_path / "target"))
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(ConfigError, match=r"neither a \.zip nor a \.tar\.gz"):
        unzip_file(str(tmp_path / "x.rar"), str(tmp_path))
