"""Running a labelling team: accounts, one-time password links, deactivation, and assigning many
labellers to datasets at once.

A password link is Django's password-reset token (default_token_generator): signed with the
SECRET_KEY, it expires after PASSWORD_RESET_TIMEOUT seconds, and it stops working once the password
it was made for changes, so it works once. Setting a password locks the user's row and checks the
token again under the lock, so two submissions of one link cannot both succeed.

Labellers of kind "model" (AI labellers) are configured elsewhere: these services refuse to edit,
deactivate or set passwords for them."""
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from annotation.labelling.services import dataset_labellers_add, dataset_labellers_remove, labeller_leases_end
from annotation.models import Dataset, Labeller
from common.exceptions import ApplicationError
from common.validation import text_clean

User = get_user_model()
USERNAME_MAX_CHARS = User._meta.get_field("username").max_length
LOCALE_MAX_CHARS = Labeller._meta.get_field("locale").max_length
TAG_MAX_CHARS = 50
TAGS_MAX = 20
# Roles an admin gives on the Team page; "ai" and "imported" accounts are made by other tools.
ROLES_GIVEN_HERE = [Labeller.Role.LABELLER, Labeller.Role.ADMIN]


def expertise_tags_clean(tags: list[str]) -> list[str]:
    """Stripped, de-duplicated (first spelling kept), bounded tags."""
    cleaned: list[str] = []
    for tag in tags:
        tag = text_clean(tag, name="expertise tag", max_chars=TAG_MAX_CHARS)
        if tag and tag.lower() not in {t.lower() for t in cleaned}:
            cleaned.append(tag)
    if len(cleaned) > TAGS_MAX:
        raise ApplicationError(f"At most {TAGS_MAX} expertise tags.")
    return cleaned


def _check_person(labeller: Labeller) -> None:
    if labeller.kind == Labeller.Kind.MODEL:
        raise ApplicationError(f"{labeller.user.username} is an AI labeller: it is not managed on the Team page.")


@transaction.atomic
def labeller_create(*, username: str, email: str = "", locale: str = "", expertise_tags: list[str] | None = None,
                    role: str = Labeller.Role.LABELLER, password: str | None = None) -> Labeller:
    """A person's account and labeller profile. Without `password` the account has none until
    they set one through a password link (labeller_password_link)."""
    username = text_clean(username, name="username", max_chars=USERNAME_MAX_CHARS)
    if not username:
        raise ApplicationError("A username is needed.")
    try:
        User.username_validator(username)
    except ValidationError as e:
        raise ApplicationError(f"username: {' '.join(e.messages)}") from e
    email = text_clean(email, name="email", max_chars=User._meta.get_field("email").max_length)
    if email:
        try:
            validate_email(email)
        except ValidationError as e:
            raise ApplicationError(f"email: {' '.join(e.messages)}") from e
    locale = text_clean(locale, name="locale", max_chars=LOCALE_MAX_CHARS)
    tags = expertise_tags_clean(expertise_tags or [])
    if role not in ROLES_GIVEN_HERE:
        raise ApplicationError(f"role: one of {', '.join(ROLES_GIVEN_HERE)}")
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError(f"The username {username!r} is taken.")
    user = User(username=username, email=email)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as e:
            raise ApplicationError(f"password: {' '.join(e.messages)}") from e
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as e:  # the same username, created by another request meanwhile
        raise ApplicationError(f"The username {username!r} is taken.") from e
    return Labeller.objects.create(user=user, kind=Labeller.Kind.HUMAN, role=role, locale=locale, expertise_tags=tags)


@transaction.atomic
def labeller_update(*, labeller: Labeller, locale: str, expertise_tags: list[str], email: str | None = None) -> Labeller:
    """Changes a person's locale and expertise tags (and email, when given)."""
    _check_person(labeller)
    labeller.locale = text_clean(locale, name="locale", max_chars=LOCALE_MAX_CHARS)
    labeller.expertise_tags = expertise_tags_clean(expertise_tags)
    labeller.save(update_fields=["locale", "expertise_tags"])
    if email is not None:
        email = text_clean(email, name="email", max_chars=User._meta.get_field("email").max_length)
        if email:
            try:
                validate_email(email)
            except ValidationError as e:
                raise ApplicationError(f"email: {' '.join(e.messages)}") from e
        labeller.user.email = email
        labeller.user.save(update_fields=["email"])
    return labeller


@transaction.atomic
def labeller_deactivate(*, labeller: Labeller, by) -> Labeller:
    """The person can no longer log in, use an API token or lease pairs; their active leases end
    at once (the slots go back to the queue). Their judgements and memberships stay."""
    _check_person(labeller)
    if labeller.user_id == by.pk:
        raise ApplicationError("You cannot deactivate your own account.")
    user = User.objects.select_for_update().get(pk=labeller.user_id)
    if not user.is_active:
        raise ApplicationError(f"{user.username} is already deactivated.")
    user.is_active = False
    user.save(update_fields=["is_active"])
    labeller_leases_end(labeller=labeller)
    labeller.user = user
    return labeller


@transaction.atomic
def labeller_reactivate(*, labeller: Labeller) -> Labeller:
    _check_person(labeller)
    user = User.objects.select_for_update().get(pk=labeller.user_id)
    if user.is_active:
        raise ApplicationError(f"{user.username} is already active.")
    user.is_active = True
    user.save(update_fields=["is_active"])
    labeller.user = user
    return labeller


def labeller_password_link(*, labeller: Labeller) -> str:
    """The path of a one-time link that sets the person's password (an invitation, or a reset:
    any earlier link stops working once the password is set). The admin sends it to them."""
    _check_person(labeller)
    if not labeller.user.is_active:
        raise ApplicationError(f"{labeller.user.username} is deactivated: reactivate the account first.")
    uidb64 = urlsafe_base64_encode(force_bytes(labeller.user.pk))
    return reverse("team:set-password", kwargs={"uidb64": uidb64, "token": default_token_generator.make_token(labeller.user)})


@transaction.atomic
def labeller_password_set(*, user, token: str, password: str) -> None:
    """Sets the password through a link's token, once: the token is checked again with the
    user's row locked, and setting the password invalidates it."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active or not default_token_generator.check_token(user, token):
        raise ApplicationError("This link has been used or has expired: ask an admin for a new one.")
    try:
        validate_password(password, user)
    except ValidationError as e:
        raise ApplicationError(" ".join(e.messages)) from e
    user.set_password(password)
    user.save(update_fields=["password"])


@transaction.atomic
def team_members_change(*, labellers: list[Labeller], datasets: list[Dataset], add: bool) -> None:
    """Adds (or removes) every labeller to (from) every dataset, all or nothing, through the same
    services as the members API, so the same checks apply: a deactivated account cannot be
    added, and only members can be removed."""
    if not labellers:
        raise ApplicationError("Select at least one labeller.")
    if not datasets:
        raise ApplicationError("Select at least one dataset.")
    change = dataset_labellers_add if add else dataset_labellers_remove
    for dataset in sorted(datasets, key=lambda d: d.pk):  # one lock order for every caller
        change(dataset=dataset, labellers=labellers)
