"""What the reward model reads during PPO: the prompt's turns and the response, rendered by
rewardmodel/'s renderer (the chat template when the reward model has one)."""
import torch

from common.ml.tiny import tiny_reward_model
from rewardmodel.reward import score_conversations
from tests.training.toy import word_tokenizer
from training.ppo import score_responses
from training.text import prompt_messages, render_prompt

TURNS = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "a dog"},
         {"role": "user", "content": "and then"}]


def test_prompt_messages_inverts_render_prompt():
    assert prompt_messages(render_prompt(TURNS)) == TURNS
    assert prompt_messages("just a question") == [{"role": "user", "content": "just a question"}]


def test_a_chat_template_reward_model_reads_the_prompt_turns_through_its_template():
    tok = word_tokenizer()
    tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    torch.manual_seed(0)
    decoder_rm = tiny_reward_model(tok, n_layer=1, n_embd=16, n_head=2, n_positions=64).eval()

    from_ppo = score_responses(decoder_rm, tok, [render_prompt(TURNS)] * 2, [" it ran", " the sun"], max_length=32)
    expected, _ = score_conversations(decoder_rm, tok, [(TURNS, "it ran"), (TURNS, "the sun")], max_length=32)

    assert from_ppo.tolist() == expected
    assert from_ppo[0] != from_ppo[1]
