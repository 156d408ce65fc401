"""What the reward model reads during PPO: the prompt and the response, formatted as rewardmodel/
trained it."""
from common.ml.tiny import tiny_reward_model
from tests.training.toy import word_tokenizer
from training.rollout import prompt_messages, reward_texts


def test_a_chat_template_reward_model_reads_the_prompt_turns_through_its_template():
    prompt = "\n\nHuman: the cat\n\nAssistant: a dog\n\nHuman: and then\n\nAssistant:"
    assert prompt_messages(prompt) == [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "a dog"},
                                       {"role": "user", "content": "and then"}]
    assert prompt_messages("just a question") == [{"role": "user", "content": "just a question"}]
    tok = word_tokenizer()
    decoder_rm = tiny_reward_model(tok, n_layer=1, n_embd=16, n_head=2, n_positions=64)
    assert reward_texts(decoder_rm, tok, [prompt], [" it ran"]) == [prompt + " it ran"]  # no template: one transcript
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    assert reward_texts(decoder_rm, tok, [prompt], [" it ran"]) == [
        "<user>the cat<assistant>a dog<user>and then<assistant>it ran"]
