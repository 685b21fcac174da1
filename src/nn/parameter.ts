import type { FloatTensor } from '../kernels/tensor.js';

/** A trainable tensor: its values are updated in place by the optimizer. */
export interface Parameter {
  /** `<layer name>.weight` or `<layer name>.bias`, as in PyTorch's state_dict. */
  readonly name: string;
  readonly value: FloatTensor;
  /** Set by the backward pass; null before the first one. */
  grad: FloatTensor | null;
}

/** A named tensor that is saved with the model but not trained (batch norm running statistics). */
export interface Buffer {
  readonly name: string;
  readonly value: FloatTensor;
}
