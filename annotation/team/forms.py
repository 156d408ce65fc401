from django import forms
from django.conf import settings

from annotation.models import Dataset, Labeller
from annotation.team.services import ROLES_GIVEN_HERE, USERNAME_MAX_CHARS


def _link_days() -> str:
    days = settings.PASSWORD_RESET_TIMEOUT / 86400
    return f"{days:g} day{'s' if days != 1 else ''}"


class TagsField(forms.CharField):
    """Comma-separated tags, as a list."""

    def to_python(self, value):
        return [t.strip() for t in (super().to_python(value) or "").split(",") if t.strip()]

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class LabellerCreateForm(forms.Form):
    HOW = [("invite", "Invite: make a one-time link they open to choose their password"),
           ("password", "Set a password now and tell it to them")]

    username = forms.CharField(max_length=USERNAME_MAX_CHARS,
                               help_text="What they log in with: letters, digits and @ . + - _ only.")
    email = forms.EmailField(required=False, help_text="Optional; Arbiter sends no mail, it is for your records.")
    locale = forms.CharField(required=False, max_length=Labeller._meta.get_field("locale").max_length,
                             help_text="Locale or region (e.g. en-GB), for the audit's breakdowns.")
    expertise_tags = TagsField(required=False, help_text="Comma-separated, e.g. medicine, python.")
    role = forms.ChoiceField(choices=[(r.value, r.label) for r in ROLES_GIVEN_HERE], initial="labeller",
                             help_text="Labellers judge pairs of the datasets they are assigned to; admins also "
                                       "import data, audit, train and run this page.")
    how = forms.ChoiceField(choices=HOW, initial="invite", widget=forms.RadioSelect,
                            label="How they get a password")
    password = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                               label="Password (when set now)", help_text="Only with “Set a password now”.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["how"].help_text = f"An invitation link expires after {_link_days()} and works once."

    def clean(self):
        data = super().clean()
        if data.get("how") == "password" and not data.get("password"):
            self.add_error("password", "Type the password, or choose “Invite”.")
        return data


class LabellerEditForm(forms.Form):
    email = forms.EmailField(required=False)
    locale = forms.CharField(required=False, max_length=Labeller._meta.get_field("locale").max_length,
                             help_text="Locale or region, for the audit's breakdowns.")
    expertise_tags = TagsField(required=False, help_text="Comma-separated.")


class TeamAssignForm(forms.Form):
    labellers = forms.ModelMultipleChoiceField(queryset=Labeller.objects.filter(kind=Labeller.Kind.HUMAN))
    datasets = forms.ModelMultipleChoiceField(queryset=Dataset.objects.all())
    action = forms.ChoiceField(choices=[("add", "Add"), ("remove", "Remove")])
