"""transformers' own common model and config tests (``ModelTesterMixin``, ``ConfigTester`` of the installed
transformers release, from its source distribution: see tests/transformers_common.py) on all five classes:
``MERTModel``, ``MERTForPreTraining``, ``MERTForAudioTagging``, ``VGGishForAudioTagging``, ``MusicnnForAudioTagging``.

Each family has a tiny tester written the way transformers' ``tests/models/hubert/test_modeling_hubert.py`` is. A
common test is skipped only where it does not apply, with the reason (as transformers' own audio and CNN model tests
do); everything else must pass.
"""

import unittest
from contextlib import contextmanager

import pytest
import torch

import hf_culturemert  # noqa: F401  (registers the Auto classes)
from hf_culturemert.models.mert import MERTConfig, MERTForAudioTagging, MERTForPreTraining, MERTModel
from hf_culturemert.models.musicnn import MusicnnConfig, MusicnnForAudioTagging
from hf_culturemert.models.vggish import VGGishConfig, VGGishForAudioTagging

import transformers_common

try:
    modeling_common, configuration_common = transformers_common.load()
    unavailable = None
except transformers_common.CommonTestsUnavailable as error:
    unavailable = str(error)
if unavailable:  # one loud collection error, never a silent skip
    pytest.fail(unavailable, pytrace=False)

ModelTesterMixin = modeling_common.ModelTesterMixin
ConfigTester = configuration_common.ConfigTester
floats_tensor = modeling_common.floats_tensor

pytestmark = pytest.mark.usefixtures("single_thread")


def _right_padded_mask(batch_size, length):
    """[B, S] long mask, 1 for samples, 0 for right padding (row 0 unpadded, the others shorter)."""
    mask = torch.ones(batch_size, length, dtype=torch.long)
    for row in range(1, batch_size):
        mask[row, length - row * (length // (2 * batch_size)):] = 0
    return mask


@contextmanager
def _only(test, classes):
    """Run a common test on some of ``all_model_classes`` only."""
    test.all_model_classes = classes
    try:
        yield
    finally:
        del test.all_model_classes


class _OurModelTest(ModelTesterMixin):
    """What every tester here adds to transformers' mixin: the labels each head's loss needs (transformers only
    knows its own classes'), and the config checks."""

    def _prepare_for_class(self, inputs_dict, model_class, return_labels=False):
        inputs = super()._prepare_for_class(inputs_dict, model_class, return_labels=return_labels)
        if return_labels:
            inputs.update(self.model_tester.labels_for(model_class))
        return inputs

    def test_config(self):
        self.config_tester.run_common_tests()


class _CNNTaggerSkips:
    """The common tests that cannot apply to a CNN tagger on spectrograms, each with why (transformers' own
    Encodec, UnivNet and ResNet testers skip these too)."""

    has_attentions = False
    test_resize_embeddings = False

    @unittest.skip("a CNN tagger has no attention layers and no hidden-state sequence to return")
    def test_hidden_states_output(self):
        pass

    @unittest.skip("a CNN tagger has no attention layers and no hidden-state sequence to return")
    def test_retain_grad_hidden_states_attentions(self):
        pass

    @unittest.skip("a CNN tagger has no inputs_embeds (its input is a spectrogram)")
    def test_inputs_embeds(self):
        pass

    @unittest.skip("a CNN tagger has no token embeddings to get or set")
    def test_model_get_set_embeddings(self):
        pass

    @unittest.skip("no transformer layer to checkpoint (supports_gradient_checkpointing is False); transformers' "
                   "check would pass without checking anything")
    def test_training_gradient_checkpointing(self):
        pass

    @unittest.skip("no transformer layer to checkpoint (supports_gradient_checkpointing is False)")
    def test_training_gradient_checkpointing_use_reentrant_false(self):
        pass

    @unittest.skip("no transformer layer to checkpoint (supports_gradient_checkpointing is False)")
    def test_training_gradient_checkpointing_use_reentrant_true(self):
        pass


# ------------------------------------------------------------------------------------------------ MERT


class MERTModelTester:
    def __init__(self, parent, batch_size=3, seq_length=1024, is_training=True, hidden_size=16,
                 num_hidden_layers=2, num_attention_heads=2, intermediate_size=20, conv_dim=(16, 16, 16),
                 conv_stride=(4, 4, 4), conv_kernel=(8, 8, 8), num_conv_pos_embeddings=16,
                 num_conv_pos_embedding_groups=2, num_labels=3, num_codebooks=2, codebook_size=8, codebook_dim=4,
                 cqt_bins=6):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.is_training = is_training
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.conv_dim, self.conv_stride, self.conv_kernel = conv_dim, conv_stride, conv_kernel
        self.num_conv_pos_embeddings = num_conv_pos_embeddings
        self.num_conv_pos_embedding_groups = num_conv_pos_embedding_groups
        self.num_labels = num_labels
        self.num_codebooks, self.codebook_size, self.codebook_dim = num_codebooks, codebook_size, codebook_dim
        self.cqt_bins = cqt_bins
        frames = seq_length
        for kernel, stride in zip(conv_kernel, conv_stride):
            frames = (frames - kernel) // stride + 1
        self.output_seq_length = self.encoder_seq_length = frames

    def get_config(self):
        return MERTConfig(
            hidden_size=self.hidden_size, num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads, intermediate_size=self.intermediate_size,
            conv_dim=self.conv_dim, conv_stride=self.conv_stride, conv_kernel=self.conv_kernel,
            num_conv_pos_embeddings=self.num_conv_pos_embeddings,
            num_conv_pos_embedding_groups=self.num_conv_pos_embedding_groups, num_labels=self.num_labels,
            num_codebooks=self.num_codebooks, codebook_size=self.codebook_size, codebook_dim=self.codebook_dim,
            cqt_bins=self.cqt_bins, classifier_hidden_size=8, use_weighted_layer_sum=True)

    def prepare_config_and_inputs(self):
        input_values = floats_tensor([self.batch_size, self.seq_length], scale=1.0)
        return self.get_config(), input_values, _right_padded_mask(self.batch_size, self.seq_length)

    def prepare_config_and_inputs_for_common(self):
        config, input_values, attention_mask = self.prepare_config_and_inputs()
        return config, {"input_values": input_values, "attention_mask": attention_mask}

    def labels_for(self, model_class):
        """The labels each head's loss needs (transformers' common tests only know its own classes' labels)."""
        generator = torch.Generator().manual_seed(0)
        frames, batch = self.output_seq_length, self.batch_size
        if model_class is MERTForPreTraining:
            mask = torch.zeros(batch, frames, dtype=torch.bool)
            mask[:, 1: frames // 2] = True
            return {"mask_time_indices": mask,
                    "codec_labels": torch.randint(0, self.codebook_size, (batch, self.num_codebooks, frames),
                                                  generator=generator),
                    "cqt_labels": torch.rand(batch, frames, self.cqt_bins, generator=generator)}
        if model_class is MERTForAudioTagging:
            return {"labels": torch.randint(0, 2, (batch, self.num_labels), generator=generator).float()}
        return {}


class MERTModelTest(_OurModelTest, unittest.TestCase):
    all_model_classes = (MERTModel, MERTForPreTraining, MERTForAudioTagging)
    test_resize_embeddings = False

    def setUp(self):
        self.model_tester = MERTModelTester(self)
        self.config_tester = ConfigTester(self, config_class=MERTConfig, hidden_size=48)

    def test_model(self):
        config, input_values, attention_mask = self.model_tester.prepare_config_and_inputs()
        model = MERTModel(config).eval()
        with torch.no_grad():
            result = model(input_values, attention_mask=attention_mask)
        self.assertEqual(result.last_hidden_state.shape, (self.model_tester.batch_size,
                                                          self.model_tester.output_seq_length,
                                                          self.model_tester.hidden_size))

    # the bare encoder has no loss: transformers leaves base models out of these through MODEL_MAPPING_NAMES,
    # which lists only its own classes
    def test_training(self):
        with _only(self, (MERTForPreTraining, MERTForAudioTagging)):
            super().test_training()

    def check_training_gradient_checkpointing(self, gradient_checkpointing_kwargs=None):
        with _only(self, (MERTForPreTraining, MERTForAudioTagging)):
            super().check_training_gradient_checkpointing(gradient_checkpointing_kwargs)

    @unittest.skip("transformers' check formats its failure message (`tuple - dict`) before comparing, which raises "
                   "on bool outputs (frame_mask, mask_time_indices); test_outputs_tuple_equals_dict_... below makes "
                   "the same comparisons bool-safe")
    def test_model_outputs_equivalence(self):
        pass

    def test_outputs_tuple_equals_dict_and_config_return_dict_is_honoured(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        self.assertFalse(bool(inputs["attention_mask"].all()))
        flags = ({}, {"output_hidden_states": True}, {"output_attentions": True},
                 {"output_hidden_states": True, "output_attentions": True})
        for model_class in self.all_model_classes:
            model = model_class(config).eval()
            for labels in (False, True):
                prepared = self._prepare_for_class(inputs, model_class, return_labels=labels)
                for extra in flags:
                    with torch.no_grad():
                        expected = model(**prepared, **extra).to_tuple()
                        as_tuple = model(**prepared, **extra, return_dict=False)
                        model.config.return_dict = False
                        from_config = model(**prepared, **extra)
                        model.config.return_dict = True
                    for got in (as_tuple, from_config):
                        self.assertIsInstance(got, tuple)
                        self.assertEqual(len(got), len(expected), (model_class.__name__, extra))
                        leaves = zip(torch.utils._pytree.tree_leaves(got), torch.utils._pytree.tree_leaves(expected))
                        self.assertTrue(all(torch.equal(a, b) for a, b in leaves), (model_class.__name__, extra))

    @unittest.skip("a waveform model has no inputs_embeds (as transformers' Hubert test)")
    def test_inputs_embeds(self):
        pass

    @unittest.skip("a waveform model has no token embeddings to get or set (as transformers' Hubert test)")
    def test_model_get_set_embeddings(self):
        pass


# ------------------------------------------------------------------------------------------------ CNN taggers


class _SpectrogramTaggerTester:
    config_class = None

    def __init__(self, parent, batch_size=3, num_mel_bins=16, chunk_frames=24, num_labels=3, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.num_mel_bins = num_mel_bins
        self.seq_length = chunk_frames
        self.num_labels = num_labels
        self.is_training = is_training

    def prepare_config_and_inputs_for_common(self):
        inputs = floats_tensor([self.batch_size, self.num_mel_bins, self.seq_length], scale=1.0)
        return self.get_config(), {"input_features": inputs}

    def labels_for(self, model_class):
        generator = torch.Generator().manual_seed(0)
        return {"labels": torch.randint(0, 2, (self.batch_size, self.num_labels), generator=generator).float()}


class VGGishModelTester(_SpectrogramTaggerTester):
    def get_config(self):
        return VGGishConfig(num_mel_bins=self.num_mel_bins, chunk_frames=self.seq_length, channels=(4, 8, 8),
                            dense_size=8, num_labels=self.num_labels)


class MusicnnModelTester(_SpectrogramTaggerTester):
    def get_config(self):
        return MusicnnConfig(num_mel_bins=self.num_mel_bins, chunk_frames=self.seq_length, timbral_filters=4,
                             timbral_heights=(11, 6), timbral_width=3, temporal_filters=3, temporal_lengths=(9, 5),
                             backend_channels=8, backend_kernel=3, dense_size=8, num_labels=self.num_labels)


class _SpectrogramTaggerTest(_CNNTaggerSkips, _OurModelTest):
    model_tester_factory = None
    config_class = None

    def setUp(self):
        self.model_tester = self.model_tester_factory(self)
        self.config_tester = ConfigTester(self, config_class=self.config_class, has_text_modality=False,
                                          common_properties=["num_mel_bins", "chunk_frames", "dropout"],
                                          dense_size=9)

    def test_model(self):
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        model = self.all_model_classes[0](config).eval()
        with torch.no_grad():
            logits = model(**inputs).logits
        self.assertEqual(logits.shape, (self.model_tester.batch_size, self.model_tester.num_labels))


class VGGishModelTest(_SpectrogramTaggerTest, unittest.TestCase):
    all_model_classes = (VGGishForAudioTagging,)
    model_tester_factory = VGGishModelTester
    config_class = VGGishConfig


class MusicnnModelTest(_SpectrogramTaggerTest, unittest.TestCase):
    all_model_classes = (MusicnnForAudioTagging,)
    model_tester_factory = MusicnnModelTester
    config_class = MusicnnConfig

