#pragma once
// Every dataset reader of deephash: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches, image
// folders and tar archives of them, Caffe-style list files, and the gzip, tar and image codecs
// they stand on.

#include "deephash/data/cifar10.hpp"
#include "deephash/data/gzip.hpp"
#include "deephash/data/idx.hpp"
#include "deephash/data/image_dataset.hpp"
#include "deephash/data/image_decode.hpp"
#include "deephash/data/image_folder.hpp"
#include "deephash/data/image_list.hpp"
#include "deephash/data/tar_archive.hpp"
