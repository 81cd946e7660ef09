# Device image only (launch/device/ci_gpu.sh): Ubuntu's Boost 1.83 headers are there but not the
# CMake package of Boost.Program_options. The real library is used when present; otherwise an empty
# target, so only the CLI (which nothing in the GPU run needs) fails to link, visibly.
if(NOT TARGET Boost::program_options)
  add_library(Boost::program_options INTERFACE IMPORTED)
  file(GLOB _sp_po_lib /usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.83*)
  if(_sp_po_lib)
    list(GET _sp_po_lib 0 _sp_po_lib)
    set_target_properties(Boost::program_options PROPERTIES INTERFACE_LINK_LIBRARIES "${_sp_po_lib}")
  endif()
endif()
set(boost_program_options_FOUND TRUE)
