"""The classifier architecture: the BERT encoder, mean pooling over the unit's tokens, one linear layer.

all-MiniLM-L6-v2 was trained with mean pooling; BertForSequenceClassification reads an untrained
[CLS] pooler instead, which is almost constant across sentences for this checkpoint and trains
slowly. Mean pooling (padding masked out) uses the representation the encoder already has.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class HeartfeltClassifier(BertPreTrainedModel):
    config_class = BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.classifier_dropout or config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **_: object,
    ) -> SequenceClassifierOutput:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        # Pool over the unit's own tokens (segment A) only: the neighbours (segment B) shape those
        # tokens through attention but must not dilute the unit's representation with their content.
        keep = attention_mask if token_type_ids is None else attention_mask * (token_type_ids == 0)
        mask = keep.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        logits = self.classifier(self.dropout(pooled))
        self.last_pooled = pooled  # read by the classifier wrapper for embedding similarity
        loss = None
        if labels is not None:
            loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(loss=loss, logits=logits)
