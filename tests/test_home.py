"""The home page: the datasets a user may open, with Label links only where they label."""
import pytest

from tests.factories import AdminLabellerFactory, DatasetFactory, LabellerFactory

pytestmark = pytest.mark.django_db


def test_an_admin_sees_every_dataset_but_a_label_link_only_for_those_they_are_a_member_of(client):
    admin = AdminLabellerFactory()
    member_of, not_member_of = DatasetFactory(name="mine"), DatasetFactory(name="theirs")
    member_of.labellers.add(admin)
    client.force_login(admin.user)

    html = client.get("/").content.decode()

    assert "mine" in html and "theirs" in html
    assert f'href="/label/{member_of.pk}/"' in html
    assert f'href="/label/{not_member_of.pk}/"' not in html
    assert f'href="/audit/{not_member_of.pk}/"' in html


def test_a_labeller_sees_only_their_datasets_each_with_a_label_link(client):
    labeller = LabellerFactory()
    mine, other = DatasetFactory(name="mine"), DatasetFactory(name="other")
    mine.labellers.add(labeller)
    client.force_login(labeller.user)

    html = client.get("/").content.decode()

    assert f'href="/label/{mine.pk}/"' in html
    assert "other" not in html and "/audit/" not in html
