"""SOAP gateway for HAN device provisioning and Smart Energy messaging between REPs and TDSP head-
ends.
"""
