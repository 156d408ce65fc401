"""`make screenshots`: PNGs of each main page at a phone's size (390x844) and a desktop's
(1280x800), as the demo admin and a demo labeller see them, into var/screenshots/.

The app runs on a throwaway copy of the demo data (its own folder, SQLite database and file
broker, all deleted afterwards), so that your own data is left alone and nothing needs the
network. Pages that need something the demo lacks (a trained reward model, a PPO run) are
skipped with a line saying so. Chromium is Debian's (common.chromium)."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from common.chromium import EXECUTABLE, chromium_launch  # noqa: E402 (after the project is on the path)

OUT = ROOT / "var" / "screenshots"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
ADMIN, LABELLER = "admin", "alice"  # demo accounts (annotation.dataio.demo.DEMO_ACCOUNTS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    for _ in range(120):
        if server.poll() is not None:
            raise SystemExit(f"The web app stopped (exit status {server.returncode}) before answering.")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"The web app did not answer at {url} within a minute.")


def pages_of(username: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, path) of each page to take for this user, and a line for each page skipped."""
    from annotation.models import Dataset, Labeller
    from rewardmodel.models import RewardModelRun
    from training.models import PolicyRun

    labeller = Labeller.objects.get(user__username=username)
    dataset = labeller.datasets.order_by("name").first()
    pages, skipped = [("home", "/"), ("datasets", "/label/")], []
    if dataset:
        pages.append(("compare", f"/label/{dataset.pk}/"))
    else:
        skipped.append(f"{username}: the labelling page (a member of no dataset)")
    if not labeller.is_admin:
        return pages, skipped
    pages.append(("data", "/data/"))
    pages += [("team", "/team/"), ("team-new", "/team/new/"), ("team-labeller", f"/team/{labeller.pk}/")]
    pages += [(f"audit-{d.pk}", f"/audit/{d.pk}/?compute=1") for d in Dataset.objects.order_by("pk")]
    pages += review_pages_of(list(Dataset.objects.order_by("pk")))
    pages.append(("reward-models", "/reward-models/"))
    reward_runs = list(RewardModelRun.objects.order_by("-pk").values_list("pk", flat=True)[:2])
    if reward_runs:
        pages.append(("reward-model", f"/reward-models/{reward_runs[0]}/"))
    else:
        skipped.append("the reward-model page (the demo has no reward-model run: train one first)")
    if len(reward_runs) == 2:
        pages.append(("reward-compare", f"/reward-models/compare/?ids={reward_runs[0]}&ids={reward_runs[1]}"))
    else:
        skipped.append("the reward-model comparison (it needs two reward-model runs)")
    pages.append(("policy-runs", "/policy-runs/"))
    ppo = PolicyRun.objects.order_by("-pk").first()
    if ppo:
        pages.append(("ppo-run", f"/policy-runs/ppo/{ppo.pk}/"))
    else:
        skipped.append("the PPO run page (the demo has no PPO run)")
    return pages, skipped


def review_pages_of(datasets) -> list[tuple[str, str]]:
    """The review queue of the first dataset with pairs to review (else the first dataset), its first
    listed pair (or its first pair) and a search."""
    from annotation.review.selectors import review_queue

    if not datasets:
        return [("review", "/review/")]
    dataset, listed = datasets[0], []
    for candidate in datasets:
        listed = review_queue(dataset=candidate)
        if listed:
            dataset = candidate
            break
    pair_id = listed[0].pair_id if listed else dataset.pairs.order_by("pk").values_list("pk", flat=True).first()
    pages = [("review", "/review/"), ("review-queue", f"/review/{dataset.pk}/")]
    if pair_id:
        pages.append(("review-pair", f"/review/{dataset.pk}/pairs/{pair_id}/"))
    return pages + [("search", f"/review/search/?dataset={dataset.pk}&q=the")]


def session_cookie(username: str) -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client.cookies["sessionid"].value


def take(base_url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = chromium_launch(p)
        for username in (ADMIN, LABELLER):
            cookie = {"name": "sessionid", "value": session_cookie(username), "url": base_url}
            pages, skipped = pages_of(username)
            for line in skipped:
                print(f"Skipped {line}.")
            for size, viewport in VIEWPORTS.items():
                context = browser.new_context(viewport=viewport)
                context.add_cookies([cookie])
                page = context.new_page()
                # An uncached audit of the demo's larger dataset can take more than Playwright's 30 s
                # default on a busy machine; this is a liveness guard, not a speed bound.
                page.set_default_navigation_timeout(300_000)
                for name, path in pages:
                    page.goto(base_url + path, wait_until="networkidle")
                    ask = page.get_by_role("button", name="Show me a pair")
                    if name == "compare" and ask.count():  # a pair is leased only when asked for (or already held)
                        ask.click()
                        page.locator("#pair-heading").wait_for()
                    target = OUT / f"{username}-{name}-{size}.png"
                    page.screenshot(path=target, full_page=True)
                    written.append(target)
                context.close()
        browser.close()
    return written


def main() -> None:
    if not Path(EXECUTABLE).exists():
        raise SystemExit(f"{EXECUTABLE} is missing: install Debian's chromium package.")
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.png"):  # pages of an earlier run that this one may not take
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="arbiter-screenshots-") as var:
        os.environ.update({
            "ARBITER_VAR_DIR": var, "DATABASE_URL": f"sqlite:///{var}/arbiter.sqlite3",
            "CELERY_BROKER_URL": "filesystem://", "CELERY_RESULT_BACKEND": "", "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "true",  # the ORM is called between Playwright's (sync) steps
        })
        print("Loading the demo data into a throwaway database…")
        manage("migrate", "--noinput")
        manage("seed_demo")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", "--insecure", "--noreload",
                                   f"127.0.0.1:{port}"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"{base_url}/accounts/login/", server)
            import django

            django.setup()
            written = take(base_url)
        finally:
            server.terminate()
            server.wait()
    print(f"Wrote {len(written)} screenshots into {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
