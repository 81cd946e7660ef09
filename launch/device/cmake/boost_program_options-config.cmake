# Device image only (launch/device/ci_gpu.sh): Ubuntu's Boost 1.83 headers are there but neither the
# CMake package nor the library of Boost.Program_options. The image's own library is used when
# present, else the Debian 12 one that ci_gpu.sh unpacks from .debs/ into /tmp/deps (its ABI is the
# same for what the CLI uses: the CLI tests run against it there); otherwise an empty target, so
# only the CLI fails to link, visibly.
if(NOT TARGET Boost::program_options)
  add_library(Boost::program_options INTERFACE IMPORTED)
  file(GLOB _sp_po_lib /usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.*
                       /tmp/deps/usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.*)
  if(_sp_po_lib)
    list(GET _sp_po_lib 0 _sp_po_lib)
    set_target_properties(Boost::program_options PROPERTIES INTERFACE_LINK_LIBRARIES "${_sp_po_lib}")
  endif()
endif()
set(boost_program_options_FOUND TRUE)
