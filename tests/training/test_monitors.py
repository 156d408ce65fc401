from training.monitors import MonitorThresholds, check_metrics, check_text, distinct_n, text_stats

SFT = [
    "The weather today is mild with some clouds in the afternoon.",
    "You could try baking bread; it takes patience but little equipment.",
    "Paris is the capital of France and sits on the Seine.",
    "A good night's sleep helps memory and mood.",
    "Start with small steps and keep a simple notebook of progress.",
    "Tea and coffee both contain caffeine, in different amounts.",
]


def kinds(alerts):
    return {a.kind for a in alerts}


def test_similar_samples_raise_nothing():
    assert check_text(text_stats(SFT), text_stats(SFT[::-1])) == []


def test_length_drift_fires_past_one_and_a_half_times_the_sft_length():
    longer = [t + " " + t + " Moreover, it is worth adding further detail." for t in SFT]

    alerts = check_text(text_stats(SFT), text_stats(longer))

    assert "length" in kinds(alerts)
    assert [a for a in alerts if a.kind == "length"][0].value > 1.5


def test_length_within_the_limit_does_not_fire():
    slightly = [t + " Indeed." for t in SFT]

    assert "length" not in kinds(check_text(text_stats(SFT), text_stats(slightly)))


def test_repetition_fires_when_distinct_2_collapses():
    loops = ["great answer great answer great answer great answer great answer"] * 6

    alerts = check_text(text_stats(SFT), text_stats(loops))

    assert "repetition" in kinds(alerts)
    assert distinct_n(loops, 2) < 0.6 * distinct_n(SFT, 2)


def test_keyword_fires_when_one_word_spreads_across_responses():
    stuffed = [t + " Certainly!" for t in SFT]

    alerts = check_text(text_stats(SFT), text_stats(stuffed))

    assert "keyword" in kinds(alerts)
    assert "certainly" in [a for a in alerts if a.kind == "keyword"][0].message


def test_hedging_fires_when_disclaimers_rise():
    hedged = ["As an AI, I cannot be sure, but " + t for t in SFT[:4]] + SFT[4:]

    assert "hedging" in kinds(check_text(text_stats(SFT), text_stats(hedged)))


def test_hedging_already_present_in_sft_does_not_fire_on_a_small_rise():
    base = ["I'm sorry, " + t for t in SFT[:3]] + SFT[3:]
    now = ["I'm sorry, " + t for t in SFT[:4]] + SFT[4:]

    assert "hedging" not in kinds(check_text(text_stats(base), text_stats(now)))


def test_formatting_fires_when_bullets_and_bold_appear():
    formatted = [f"**Answer**\n- {t}\n- done" for t in SFT]

    assert "formatting" in kinds(check_text(text_stats(SFT), text_stats(formatted)))


def test_kl_beyond_the_limit_fires_and_below_does_not():
    th = MonitorThresholds(kl_limit=5.0)

    assert kinds(check_metrics([{"objective/kl": 5.5, "objective/scores": 0.0}], th)) == {"kl"}
    assert check_metrics([{"objective/kl": 4.5, "objective/scores": 0.0}], th) == []


def test_overoptimisation_fires_when_held_out_falls_while_proxy_rises():
    th = MonitorThresholds(window=3, min_change=0.05)
    history = [{"objective/kl": k, "objective/scores": 0.1 * k, "objective/held_out_scores": 1.0 - 0.1 * k} for k in range(4)]

    assert "overoptimisation" in kinds(check_metrics(history, th))


def test_overoptimisation_stays_quiet_while_both_rewards_rise():
    th = MonitorThresholds(window=3, min_change=0.05)
    history = [{"objective/kl": k, "objective/scores": 0.1 * k, "objective/held_out_scores": 0.05 * k} for k in range(4)]

    assert check_metrics(history, th) == []
