// kubemendctl: the kubemend admin client. See tools/kubemendctl/README.md.
#include <iostream>

#include "kubemend/common/config.h"
#include "src/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return kubemend::ctl::Run(args, kubemend::EnvFromProcess(), std::cout, std::cerr);
}
