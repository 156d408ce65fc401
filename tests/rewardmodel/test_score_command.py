"""`manage.py score --input FILE.jsonl` names the line of the file that it cannot read."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.training.factories import RewardModelRunFactory


@pytest.mark.django_db
def test_score_names_the_input_line_that_lacks_a_response(tmp_path):
    run = RewardModelRunFactory()
    items = tmp_path / "items.jsonl"
    items.write_text('{"prompt": "Hi", "response": "Hello"}\n\n{"prompt": "Hi"}\n')

    with pytest.raises(CommandError, match="line 3: expected an object with 'prompt', 'response'"):
        call_command("score", "--run", str(run.pk), "--input", str(items))
