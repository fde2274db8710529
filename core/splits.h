// The evaluation protocols of ../shared/data/README.md, as named functions.
//   ORL-id: per person, images 1-7 train and 8-10 test (top-1 identification).
//   LFW-disjoint-5: train on every image of the people with >= 5 images; test on the pairs of
//   pairs.txt in which neither person is a training person, each pair in its original fold.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/dataset.h"

namespace hymask {

struct Split {
  std::vector<size_t> train;
  std::vector<size_t> test;
};

// Indices into the listing of ORL (s1..s40/1..10.pgm).
Split orl_id_split(const FolderListing& orl);

struct LfwPair {
  std::string name1;
  int image1;
  std::string name2;
  int image2;
  bool same;
  int fold;  // (line index - 1) div (2 x pairs per kind), line 0 being the header (LFW: div 600)
};

// Parses LFW View 2 pairs.txt, or a file in its format; throws DataError naming the line of a
// malformed entry.
std::vector<LfwPair> read_lfw_pairs(const std::filesystem::path& path);

// The image file of one side of a pair: root/Name/Name_NNNN.jpg
std::filesystem::path lfw_image_path(const std::filesystem::path& root, const std::string& name,
                                     int image);

struct LfwDisjointSplit {
  std::vector<size_t> train;           // indices into the LFW listing
  std::set<std::string> train_people;  // people with >= min_images images
  std::vector<LfwPair> test;           // pairs with neither person in train_people
  std::vector<size_t> auxiliary;       // images of people with fewer images (attack data)
  std::vector<size_t> unevaluated;     // those of them whose person no test pair names
};

LfwDisjointSplit lfw_disjoint_split(const FolderListing& lfw, const std::vector<LfwPair>& pairs,
                                    int min_images = 5);

}  // namespace hymask
