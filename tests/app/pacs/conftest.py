from tests.support.orthanc import orthanc, orthanc_server

__all__ = ["orthanc", "orthanc_server"]
