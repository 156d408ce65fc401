"""Labeller reliability by the one-coin Dawid-Skene model, fitted by EM and fully vectorised.

Model: each pair has a true choice among the K choices, drawn from class priors pi; labeller j
reports it with probability q_j and otherwise one of the K - 1 other choices at random. Gold
pairs have their true choice fixed at the gold answer (semi-supervised). Planned repeats are left
out: a labeller's second report of a pair is not independent of their first (the model assumes
reports are independent given the true choice), so counting it would double their weight on that
pair; self-consistency is reported on its own. q_j is the quality score: the estimated
probability that labeller j reports the true choice."""
import numpy as np

from annotation.audit.agreement import N_NOMINAL, category_counts
from annotation.audit.data import AuditData

K = N_NOMINAL


def dawid_skene_one_coin(data: AuditData, *, iterations: int = 50, tol: float = 1e-4) -> np.ndarray:
    """(L,) estimated reliability per labeller; nan for a labeller with no judgements."""
    item, lab, choice = data.item, data.labeller, data.choice.astype(np.int64)
    U, L = data.n_items, data.n_labellers
    if len(item) == 0:
        return np.full(L, np.nan)
    gold_items = np.flatnonzero(data.gold >= 0)
    gold_onehot = np.eye(K)[data.gold[gold_items]]
    n_lab = np.bincount(lab, minlength=L).astype(np.float64)

    # Start from the vote shares (majority voting), then alternate M and E steps.
    posterior = category_counts(item, choice, U, K)
    posterior /= np.maximum(posterior.sum(1, keepdims=True), 1)
    posterior[gold_items] = gold_onehot
    q = np.full(L, 0.7)
    for _ in range(iterations):
        # M-step: q_j = expected share of j's reports that are true (Beta(2, 2) smoothing keeps it
        # inside (0, 1)); pi = mean posterior.
        q_new = (np.bincount(lab, weights=posterior[item, choice], minlength=L) + 1) / (n_lab + 2)
        pi = (posterior.sum(0) + 1) / (U + K)
        # E-step, in logs: every report adds log q_j to its own choice and log((1-q_j)/(K-1)) to the rest.
        log_right, log_wrong = np.log(q_new), np.log((1 - q_new) / (K - 1))
        base = np.bincount(item, weights=log_wrong[lab], minlength=U)
        bonus = np.bincount(item * K + choice, weights=(log_right - log_wrong)[lab], minlength=U * K).reshape(U, K)
        log_post = np.log(pi)[None, :] + base[:, None] + bonus
        log_post -= log_post.max(1, keepdims=True)
        posterior = np.exp(log_post)
        posterior /= posterior.sum(1, keepdims=True)
        posterior[gold_items] = gold_onehot
        converged = np.abs(q_new - q).max() < tol
        q = q_new
        if converged:
            break
    return np.where(n_lab > 0, q, np.nan)
