from tests.annotation.labelling.conftest import make_dataset  # noqa: F401 (a fixture shared with the queue's tests)
