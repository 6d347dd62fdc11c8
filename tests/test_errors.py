import pickle

import pytest

from voltlab import errors
from voltlab.errors import (
    DataFormatError,
    DependencyError,
    MissingFileError,
    SchemaError,
    StoreError,
    UnitError,
    VoltlabError,
)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (DataFormatError, ValueError),
        (SchemaError, ValueError),
        (UnitError, ValueError),
        (MissingFileError, FileNotFoundError),
        (DependencyError, ImportError),
        (StoreError, OSError),
        (errors.NotFittedError, AttributeError),
    ],
)
def test_subclasses_refine_a_builtin(cls, builtin):
    err = cls("boom", path="x.csv")
    assert isinstance(err, VoltlabError)
    assert isinstance(err, builtin)


def test_message_names_file_row_and_column():
    err = UnitError("current looks like mA", path="a/b.csv", row=12, column="current_ampere", value=3.0)
    assert str(err) == "a/b.csv: row 12: column 'current_ampere': current looks like mA"
    assert (err.path, err.row, err.column, err.value) == ("a/b.csv", 12, "current_ampere", 3.0)


def test_errors_survive_pickling_with_their_data():
    err = SchemaError("missing", path="f.csv", column="voltage_volt")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is SchemaError
    assert str(back) == str(err)
    assert back.column == "voltage_volt"


def test_all_is_sorted_and_complete():
    assert errors.__all__ == sorted(errors.__all__)
    exported = {n for n in dir(errors) if isinstance(getattr(errors, n), type) and issubclass(getattr(errors, n), Exception)}
    assert exported == set(errors.__all__)
