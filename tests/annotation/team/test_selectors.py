"""The Team table's figures: progress counted here, speed / quality / flags read from the audit."""
import pytest

from annotation.audit.report import audit_report
from annotation.models import Judgement, Labeller
from annotation.team.selectors import audit_figures, labellers_with_progress, team_rows
from tests.annotation.audit.factories import judged_dataset
from tests.factories import DatasetFactory, JudgementFactory, LabellerFactory, PairFactory

pytestmark = pytest.mark.django_db


def by_name(rows):
    return {r.labeller.user.username: r for r in rows}


def test_progress_counts_first_judgements_in_the_labellers_datasets_of_their_pairs():
    mine, other = DatasetFactory(), DatasetFactory()
    alice = LabellerFactory(user__username="alice")
    mine.labellers.add(alice)
    pairs = [PairFactory(dataset=mine) for _ in range(4)]
    first = JudgementFactory(pair=pairs[0], labeller=alice)
    JudgementFactory(pair=pairs[1], labeller=alice)
    JudgementFactory(pair=pairs[0], labeller=alice, is_repeat=True)  # a planned repeat: not progress
    JudgementFactory(pair=pairs[0], labeller=alice, revision_of=first)  # a revision: not progress
    JudgementFactory(pair=PairFactory(dataset=other), labeller=alice)  # a dataset she is not assigned to
    (row,) = [lab for lab in labellers_with_progress() if lab.pk == alice.pk]
    assert (row.n_datasets, row.judged, row.pairs_assigned) == (1, 2, 4)


def test_someone_assigned_nowhere_has_no_progress_figure():
    LabellerFactory(user__username="idle")
    (row,) = team_rows()
    assert (row.judged, row.pairs_assigned, row.progress) == (0, 0, None)


def test_speed_quality_and_flags_are_the_audit_reports_figures():
    dataset, labellers = judged_dataset(n_pairs=40)
    rows = by_name(team_rows(audit=audit_figures(dataset=dataset, compute=True)))
    report = {r["username"]: r for r in audit_report(dataset=dataset)["labellers"]}
    for lab in labellers:
        name = lab.user.username
        assert rows[name].quality == report[name]["quality"]
        assert rows[name].flags == report[name]["flags"]
    assert rows["ann"].median_s == 30.0  # every judgement took 30 000 ms (judged_dataset)
    assert rows["cat"].quality < rows["ann"].quality  # cat disagrees on half the pairs


def test_a_labeller_without_judgements_in_the_audited_dataset_has_no_audit_figures():
    dataset, _ = judged_dataset(n_pairs=4)
    LabellerFactory(user__username="newcomer")
    row = by_name(team_rows(audit=audit_figures(dataset=dataset, compute=True)))["newcomer"]
    assert (row.audit, row.quality, row.median_s, row.flags) == (None, None, None, [])


@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_quality_puts_labellers_without_a_figure_last_either_way(descending):
    dataset, _ = judged_dataset(n_pairs=40)
    LabellerFactory(user__username="aaron")  # no judgements: no quality
    rows = team_rows(audit=audit_figures(dataset=dataset, compute=True), sort="quality", descending=descending)
    qualities = [r.quality for r in rows[:-1]]
    assert rows[-1].labeller.user.username == "aaron"
    assert qualities == sorted(qualities, reverse=descending)


def test_sorting_by_progress_descending():
    dataset = DatasetFactory()
    pairs = [PairFactory(dataset=dataset) for _ in range(3)]
    done = {"none": 0, "most": 3, "some": 1}
    for name, n in done.items():
        lab = LabellerFactory(user__username=name)
        dataset.labellers.add(lab)
        for pair in pairs[:n]:
            JudgementFactory(pair=pair, labeller=lab)
    assert [r.labeller.user.username for r in team_rows(sort="progress", descending=True)] == ["most", "some", "none"]


def test_search_matches_username_and_email_case_insensitively():
    LabellerFactory(user__username="Priya", user__email="p@example.org")
    LabellerFactory(user__username="quentin", user__email="priyas-friend@example.org")
    LabellerFactory(user__username="ravi")
    assert sorted(r.labeller.user.username for r in team_rows(search="priya")) == ["Priya", "quentin"]


def test_ai_labellers_are_listed_with_their_kind():
    LabellerFactory(user__username="judge-bot", kind=Labeller.Kind.MODEL, role=Labeller.Role.AI)
    (row,) = team_rows()
    assert row.labeller.kind == "model"


def test_the_number_of_queries_does_not_grow_with_the_number_of_labellers(django_assert_num_queries):
    dataset = DatasetFactory()

    def add_labellers(n):
        for _ in range(n):
            lab = LabellerFactory()
            dataset.labellers.add(lab)
            JudgementFactory(pair=PairFactory(dataset=dataset), labeller=lab)

    add_labellers(2)
    with django_assert_num_queries(4):
        team_rows()
    add_labellers(30)
    with django_assert_num_queries(4):
        rows = team_rows()
    assert sum(r.judged for r in rows) == Judgement.objects.count() == 32
    assert {r.pairs_assigned for r in rows} == {32}


def test_without_compute_the_stored_audit_is_read_as_it_is_and_marked_stale():
    dataset, (ann, *_) = judged_dataset(n_pairs=10)
    assert audit_figures(dataset=dataset).computed_at is None  # never computed: nothing to show
    computed = audit_figures(dataset=dataset, compute=True)
    JudgementFactory(pair=PairFactory(dataset=dataset), labeller=ann)  # the audit is now out of date
    stale = audit_figures(dataset=dataset)
    assert not stale.current and stale.rows == computed.rows
    assert stale.rows[ann.pk]["n"] == 10
    fresh = audit_figures(dataset=dataset, compute=True)
    assert fresh.current and fresh.rows[ann.pk]["n"] == 11
