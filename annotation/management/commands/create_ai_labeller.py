"""python manage.py create_ai_labeller USERNAME --backend causal_lm|reward_model|openai [--model-path DIR]
[--reward-run ID] [--endpoint-url URL --endpoint-model NAME [--api-key-env VAR]]
[--constitution NAME [--principle TEXT ...]] [--template FILE] [--judge-settings JSON] [--json]"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.ai.services import ai_labeller_create, constitution_create
from annotation.models import Constitution
from common.exceptions import ApplicationError
from rewardmodel.models import RewardModelRun


class Command(BaseCommand):
    help = ("Creates an AI labeller (a labeller of kind 'model'). The endpoint's key is never passed here: "
            "--api-key-env names the environment variable the worker reads it from.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--backend", required=True, choices=["causal_lm", "reward_model", "openai"])
        parser.add_argument("--model-path", default="", help="causal_lm: a local Hugging Face folder.")
        parser.add_argument("--reward-run", type=int, default=None, help="reward_model: a succeeded run's id.")
        parser.add_argument("--endpoint-url", default="", help="openai: base URL, e.g. http://127.0.0.1:8000/v1.")
        parser.add_argument("--endpoint-model", default="", help="openai: the model name to ask for.")
        parser.add_argument("--api-key-env", default="", help="openai: the environment variable holding the key.")
        parser.add_argument("--constitution", default="", help="Its name; the latest version is used, or with "
                            "--principle a new version is created.")
        parser.add_argument("--principle", action="append", default=[], help="A principle (repeat the flag).")
        parser.add_argument("--template", default="", help="A file with the prompt template (default: built-in).")
        parser.add_argument("--judge-settings", default="", help='JSON, e.g. {"both_orders": true, "tie_margin": 0.1}.')
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        try:
            settings = json.loads(o["judge_settings"]) if o["judge_settings"] else {}
        except json.JSONDecodeError as exc:
            raise CommandError(f"--judge-settings is not valid JSON: {exc}") from exc
        run = None
        if o["reward_run"] is not None:
            run = RewardModelRun.objects.filter(pk=o["reward_run"]).first()
            if run is None:
                raise CommandError(f"No reward-model run {o['reward_run']}.")
        template = Path(o["template"]).read_text() if o["template"] else ""
        try:
            constitution = None
            if o["principle"]:
                constitution = constitution_create(name=o["constitution"] or f"{o['username']} principles",
                                                   principles=o["principle"])
            elif o["constitution"]:
                constitution = Constitution.objects.filter(name=o["constitution"]).order_by("-version").first()
                if constitution is None:
                    raise CommandError(f"No constitution named {o['constitution']!r}; give --principle to create it.")
            ai = ai_labeller_create(
                username=o["username"], backend=o["backend"], model_path=o["model_path"], reward_run=run,
                endpoint_url=o["endpoint_url"], endpoint_model=o["endpoint_model"], api_key_env=o["api_key_env"],
                constitution=constitution, prompt_template=template, settings=settings,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        out = {"labeller": ai.labeller.user.username, "id": ai.pk, "backend": ai.backend,
               "constitution": str(ai.constitution) if ai.constitution else None}
        self.stdout.write(json.dumps(out) if o["json"] else f"AI labeller {out['labeller']} created ({ai.backend})")
