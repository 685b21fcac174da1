/** Ready-made model descriptions: the architectures of the golden vectors, the script and the benchmarks. */
import type { ModelSpec } from './model.js';

/** LeNet-5 on [in_channels, 28, 28]: the `lenet5` of train.json. */
export function lenet5(inChannels = 1, classes = 10): ModelSpec {
  return {
    layers: [
      { op: 'conv2d', name: 'conv1', in_channels: inChannels, out_channels: 6, kernel_size: 5 },
      { op: 'relu' },
      { op: 'max_pool2d', kernel_size: 2, stride: 2 },
      { op: 'conv2d', name: 'conv2', in_channels: 6, out_channels: 16, kernel_size: 5 },
      { op: 'relu' },
      { op: 'max_pool2d', kernel_size: 2, stride: 2 },
      { op: 'flatten', start_dim: 1 },
      { op: 'linear', name: 'fc1', in_features: 256, out_features: 120 },
      { op: 'relu' },
      { op: 'linear', name: 'fc2', in_features: 120, out_features: 84 },
      { op: 'relu' },
      { op: 'linear', name: 'fc3', in_features: 84, out_features: classes },
    ],
  };
}

/**
 * The textbook deep CNN: three 3x3 convolutions (padding 1, each followed by relu; a 2x2 max pool
 * after the first two), global average pooling, and one linear layer to the classes.
 */
export function textbookCnn(inChannels = 3, classes = 10, widths: readonly [number, number, number] = [32, 64, 64]): ModelSpec {
  const [w1, w2, w3] = widths;
  return {
    layers: [
      { op: 'conv2d', name: 'conv1', in_channels: inChannels, out_channels: w1, kernel_size: 3, padding: 1 },
      { op: 'relu' },
      { op: 'max_pool2d', kernel_size: 2 },
      { op: 'conv2d', name: 'conv2', in_channels: w1, out_channels: w2, kernel_size: 3, padding: 1 },
      { op: 'relu' },
      { op: 'max_pool2d', kernel_size: 2 },
      { op: 'conv2d', name: 'conv3', in_channels: w2, out_channels: w3, kernel_size: 3, padding: 1 },
      { op: 'relu' },
      { op: 'adaptive_avg_pool2d', output_size: 1 },
      { op: 'flatten' },
      { op: 'linear', name: 'fc', in_features: w3, out_features: classes },
    ],
  };
}
