"""Emulated tags and the transports that put them on a reader.

``tags`` holds the chips' memory and command behaviour (NTAG213/215/216, ICODE SLIX) and is
shared by every transport: ``vpcd`` plays a tag on a PC/SC reader through Debian's vpcd driver,
``udp`` plays one to nfcpy's ``udp`` driver, and the ``sim://`` backend calls the models directly.
"""
