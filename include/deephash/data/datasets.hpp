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

// The streaming side: sources that decode an item only when a batch needs it, the decoding
// threads, and locators read back.
#include "deephash/data/batch_stream.hpp"
#include "deephash/data/locator.hpp"
#include "deephash/data/sources/archive_source.hpp"
#include "deephash/data/sources/cifar_source.hpp"
#include "deephash/data/sources/folder_source.hpp"
#include "deephash/data/sources/idx_source.hpp"
#include "deephash/data/sources/list_source.hpp"
#include "deephash/data/sources/memory_source.hpp"
#include "deephash/data/subset_source.hpp"
