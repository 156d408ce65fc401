"""The Team services: accounts, one-time password links, deactivation, bulk assignment."""
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.labelling.services import assignment_lease
from annotation.models import Assignment, Judgement, Labeller, Pair
from annotation.team import services
from common.exceptions import ApplicationError
from tests.factories import AdminLabellerFactory, DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase-41"


def log_in(client: Client, username: str, password: str) -> bool:
    """Logs in through the login page, as a person does (django-axes needs the request)."""
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302 and "_auth_user_id" in client.session


def can_log_in(username: str, password: str) -> bool:
    return log_in(Client(), username, password)


def token_made_at(user, when: datetime) -> str:
    """A password-link token as default_token_generator would have made it at `when`."""
    generator = PasswordResetTokenGenerator()
    generator._now = lambda: when
    return generator.make_token(user)


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[1]


def test_create_with_a_password_stores_the_profile_and_the_person_can_log_in():
    labeller = services.labeller_create(username="dana", email="dana@example.org", locale="en-GB",
                                        expertise_tags=["medicine", " Medicine ", "law"], role="admin", password=PASSWORD)
    labeller.refresh_from_db()
    assert (labeller.kind, labeller.role, labeller.locale) == ("human", "admin", "en-GB")
    assert labeller.expertise_tags == ["medicine", "law"]
    assert labeller.user.email == "dana@example.org"
    assert can_log_in("dana", PASSWORD)


def test_an_invited_account_has_no_usable_password_until_the_link_is_used():
    labeller = services.labeller_create(username="erin")
    assert not labeller.user.has_usable_password()
    link = services.labeller_password_link(labeller=labeller)
    services.labeller_password_set(user=labeller.user, token=token_of(link), password=PASSWORD)
    assert can_log_in("erin", PASSWORD)


def test_a_taken_username_is_refused_whatever_its_case():
    LabellerFactory(user__username="frank")
    with pytest.raises(ApplicationError, match="taken"):
        services.labeller_create(username="Frank")
    assert Labeller.objects.count() == 1


def test_a_role_not_given_on_the_team_page_is_refused():
    with pytest.raises(ApplicationError, match="role"):
        services.labeller_create(username="gina", role="ai")


def test_a_password_link_works_once():
    labeller = services.labeller_create(username="hana")
    token = token_of(services.labeller_password_link(labeller=labeller))
    services.labeller_password_set(user=labeller.user, token=token, password=PASSWORD)
    with pytest.raises(ApplicationError, match="used or has expired"):
        services.labeller_password_set(user=labeller.user, token=token, password="another-long-passphrase-99")
    assert can_log_in("hana", PASSWORD)


def test_a_reset_link_makes_the_earlier_link_stop_working_once_used():
    labeller = services.labeller_create(username="ivan", password=PASSWORD)
    first = token_of(services.labeller_password_link(labeller=labeller))
    second = token_of(services.labeller_password_link(labeller=labeller))
    services.labeller_password_set(user=labeller.user, token=second, password="the-new-passphrase-2026")
    with pytest.raises(ApplicationError):
        services.labeller_password_set(user=labeller.user, token=first, password="yet-another-passphrase-7")
    assert can_log_in("ivan", "the-new-passphrase-2026")


def test_a_password_link_expires_after_the_reset_timeout():
    user = services.labeller_create(username="jane").user
    now = datetime.now()
    still_valid = token_made_at(user, now - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT - 60))
    expired = token_made_at(user, now - timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60))
    with pytest.raises(ApplicationError, match="expired"):
        services.labeller_password_set(user=user, token=expired, password=PASSWORD)
    services.labeller_password_set(user=user, token=still_valid, password=PASSWORD)
    assert can_log_in("jane", PASSWORD)


def test_a_password_link_of_a_deactivated_account_does_not_work():
    admin = AdminLabellerFactory()
    labeller = services.labeller_create(username="kim")
    token = token_of(services.labeller_password_link(labeller=labeller))
    services.labeller_deactivate(labeller=labeller, by=admin.user)
    with pytest.raises(ApplicationError):
        services.labeller_password_set(user=labeller.user, token=token, password=PASSWORD)
    with pytest.raises(ApplicationError, match="deactivated"):
        services.labeller_password_link(labeller=labeller)


def test_deactivation_blocks_logging_in_and_ends_an_open_session():
    admin = AdminLabellerFactory()
    labeller = services.labeller_create(username="lena", password=PASSWORD)
    client = Client()
    assert log_in(client, "lena", PASSWORD)
    services.labeller_deactivate(labeller=labeller, by=admin.user)
    assert client.get("/label/").status_code == 302  # the open session no longer counts
    assert not can_log_in("lena", PASSWORD)


def test_deactivation_ends_leases_and_blocks_leasing_but_keeps_judgements():
    admin = AdminLabellerFactory()
    dataset = DatasetFactory()
    labeller = LabellerFactory()
    dataset.labellers.add(labeller)
    JudgementFactory(pair=PairFactory(dataset=dataset), labeller=labeller)
    PairFactory(dataset=dataset)
    lease = assignment_lease(labeller=labeller, dataset_id=dataset.pk)
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 1
    key = Token.objects.create(user=labeller.user).key

    services.labeller_deactivate(labeller=labeller, by=admin.user)

    assert Assignment.objects.get(pk=lease["id"]).status == Assignment.Status.EXPIRED
    assert Pair.objects.get(pk=lease["pair_id"]).n_leased == 0
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.post(f"/api/datasets/{dataset.pk}/next/").status_code in (401, 403)
    assert Judgement.objects.filter(labeller=labeller).count() == 1
    assert list(dataset.labellers.all()) == [labeller]


def test_reactivation_lets_the_person_log_in_again():
    admin = AdminLabellerFactory()
    labeller = services.labeller_create(username="mira", password=PASSWORD)
    services.labeller_deactivate(labeller=labeller, by=admin.user)
    services.labeller_reactivate(labeller=labeller)
    assert can_log_in("mira", PASSWORD)


def test_an_admin_cannot_deactivate_their_own_account():
    admin = AdminLabellerFactory()
    with pytest.raises(ApplicationError, match="your own"):
        services.labeller_deactivate(labeller=admin, by=admin.user)
    admin.user.refresh_from_db()
    assert admin.user.is_active


def test_an_ai_labeller_is_not_edited_or_deactivated_here():
    admin = AdminLabellerFactory()
    robot = LabellerFactory(kind=Labeller.Kind.MODEL, role=Labeller.Role.AI)
    with pytest.raises(ApplicationError, match="AI labeller"):
        services.labeller_deactivate(labeller=robot, by=admin.user)
    with pytest.raises(ApplicationError, match="AI labeller"):
        services.labeller_update(labeller=robot, locale="fr", expertise_tags=[])
    robot.user.refresh_from_db()
    assert robot.user.is_active


def test_update_sets_locale_expertise_and_email():
    labeller = LabellerFactory()
    services.labeller_update(labeller=labeller, locale="de-DE", expertise_tags=["chemistry", "chemistry"],
                             email="x@example.org")
    labeller.refresh_from_db()
    assert (labeller.locale, labeller.expertise_tags, labeller.user.email) == ("de-DE", ["chemistry"], "x@example.org")


def members(dataset) -> list[str]:
    return sorted(dataset.labellers.values_list("user__username", flat=True))


def test_bulk_add_assigns_every_labeller_to_every_dataset_and_keeps_members():
    first, second = DatasetFactory(), DatasetFactory()
    carol = LabellerFactory(user__username="carol")
    first.labellers.add(carol)
    alice, bob = LabellerFactory(user__username="alice"), LabellerFactory(user__username="bob")
    services.team_members_change(labellers=[alice, bob], datasets=[first, second], add=True)
    assert members(first) == ["alice", "bob", "carol"]
    assert members(second) == ["alice", "bob"]


def test_bulk_remove_unassigns_and_ends_leases():
    dataset = DatasetFactory()
    alice, bob = LabellerFactory(user__username="alice"), LabellerFactory(user__username="bob")
    dataset.labellers.add(alice, bob)
    PairFactory(dataset=dataset)
    lease = assignment_lease(labeller=alice, dataset_id=dataset.pk)
    services.team_members_change(labellers=[alice], datasets=[dataset], add=False)
    assert members(dataset) == ["bob"]
    assert Assignment.objects.get(pk=lease["id"]).status == Assignment.Status.EXPIRED


def test_bulk_remove_of_a_non_member_changes_nothing_in_any_dataset():
    first, second = DatasetFactory(), DatasetFactory()
    alice = LabellerFactory(user__username="alice")
    first.labellers.add(alice)  # a member of the first only
    with pytest.raises(ApplicationError, match="Not labellers of dataset"):
        services.team_members_change(labellers=[alice], datasets=[first, second], add=False)
    assert members(first) == ["alice"]


def test_bulk_add_refuses_a_deactivated_account_and_assigns_nobody():
    dataset = DatasetFactory()
    alice = LabellerFactory(user__username="alice")
    gone = LabellerFactory(user__username="gone", user__is_active=False)
    with pytest.raises(ApplicationError, match="deactivated"):
        services.team_members_change(labellers=[alice, gone], datasets=[dataset], add=True)
    assert members(dataset) == []
