"""python manage.py dataset_members --dataset NAME (--add U [U ...] | --remove U [U ...] | --list) [--json]"""
import json

from django.core.management.base import BaseCommand, CommandError

from annotation.dataio.datasets import labellers_named
from annotation.dataio.selectors import dataset_member_usernames
from annotation.labelling.services import dataset_labellers_add, dataset_labellers_remove
from annotation.models import Dataset
from common.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Assign labellers to a dataset, unassign them (their active leases there end), or list its labellers."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset name.")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--add", nargs="+", metavar="USERNAME", help="Assign these labellers (members stay).")
        action.add_argument("--remove", nargs="+", metavar="USERNAME", help="Unassign these labellers.")
        action.add_argument("--list", action="store_true", help="Only list the labellers.")
        parser.add_argument("--json", action="store_true", help='Print {"dataset", "labellers": [usernames]}.')

    def handle(self, *args, dataset, add, remove, json: bool, **options):
        found = Dataset.objects.filter(name=dataset).first()
        if found is None:
            raise CommandError(f"No dataset named {dataset!r}.")
        try:
            if add:
                dataset_labellers_add(dataset=found, labellers=labellers_named(add))
            elif remove:
                dataset_labellers_remove(dataset=found, labellers=labellers_named(remove))
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        members = dataset_member_usernames(dataset=found)
        if json:
            self.stdout.write(_dumps({"dataset": found.name, "labellers": members}))
            return
        self.stdout.write(f"{found.name}: {len(members)} labellers")
        for username in members:
            self.stdout.write(f"  {username}")


def _dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False)
