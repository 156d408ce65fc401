"""python manage.py seed_demo: demo accounts and the two shipped datasets (safe to run again)."""
from django.core.management.base import BaseCommand

from annotation.ai.demo import JUDGE_USERNAME, demo_ai_labeller_seed
from annotation.dataio.demo import DEMO_ACCOUNTS, demo_seed


class Command(BaseCommand):
    help = "Create the demo accounts and import the shipped demo data, unless already done."

    def add_arguments(self, parser):
        parser.add_argument("--no-ai-labeller", action="store_true",
                            help="Skip the demo AI labeller (it trains a MiniLM reward model: a few minutes on a CPU).")

    def handle(self, *args, **options):
        result = demo_seed()
        for batch in result.imported:
            self.stdout.write(f"Imported {batch.filename} into '{batch.dataset.name}': {batch.n_pairs_created} pairs, "
                              f"{batch.n_judgements_created} judgements in {batch.duration_s:.1f} s")
        for name in result.task_sets:
            self.stdout.write(f"Imported the task set '{name}' (GRPO's demo tasks)")
        for name in result.already_there:
            self.stdout.write(f"'{name}' was already imported")
        self.stdout.write(self.style.SUCCESS("Demo logins (local demo only; the password is set when the account "
                                             "is first created):"))
        for username, password, role in DEMO_ACCOUNTS:
            new = " (created now)" if username in result.created_accounts else ""
            self.stdout.write(f"  {role:<9} {username:<6} password: {password}{new}")
        if not options["no_ai_labeller"]:
            self.stdout.write("The demo AI labeller: the MiniLM reward model trained on the HH demo data (once), "
                              "judging the pairs it held out ...")
            ai = demo_ai_labeller_seed()
            if ai.error:
                self.stdout.write(self.style.WARNING(f"  {ai.error}"))
            else:
                self.stdout.write(f"  AI labeller '{JUDGE_USERNAME}': {'trained and created' if ai.created else 'already there'}"
                                  f"{f', {ai.n_judged} pairs judged now' if ai.n_judged else ''}")
